// Placeholder until the backend-selection module lands (owned by the compute helper).
export {};
