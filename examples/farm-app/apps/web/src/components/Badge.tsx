import type { ItemStatus, UserRole } from '../api/client';

const labels: Record<ItemStatus | UserRole, string> = {
  draft: 'Draft',
  available: 'Available',
  sold_out: 'Sold out',
  archived: 'Archived',
  admin: 'Admin',
  member: 'Member',
  viewer: 'Viewer',
};

export function Badge({ value }: { value: ItemStatus | UserRole }) {
  return <span className={`badge badge--${value}`}>{labels[value]}</span>;
}
