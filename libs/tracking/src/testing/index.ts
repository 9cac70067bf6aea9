export { trackingStoreContract } from './store-contract.js';
