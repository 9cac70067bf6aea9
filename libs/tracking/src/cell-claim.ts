import type { GridCell } from './types.js';

/**
 * Whether {@link TrackingStore.claimCell} would take a cell in this state, as a pure rule for previews
 * (`grid --dry-run`): a cell not registered yet or PENDING; a FAILED one whose run was KILLED (to resume
 * it); any other FAILED one only on `retryFailed`. Never a CLAIMED or DONE one. The store's contract suite
 * checks every claim against this rule.
 */
export function cellClaimable(cell: Pick<GridCell, 'status' | 'runStatus'> | undefined, retryFailed = false): boolean {
  if (!cell || cell.status === 'PENDING') return true;
  return cell.status === 'FAILED' && (cell.runStatus === 'KILLED' || retryFailed);
}
