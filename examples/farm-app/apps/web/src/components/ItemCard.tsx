import type { Item, ItemStatus } from '../api/client';
import { Badge } from './Badge';

const price = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR' });
const nextStatus: Record<ItemStatus, ItemStatus> = {
  draft: 'available',
  available: 'sold_out',
  sold_out: 'archived',
  archived: 'draft',
};

interface ItemCardProps {
  item: Item;
  onAdvance: (item: Item, status: ItemStatus) => void;
}

export function ItemCard({ item, onAdvance }: ItemCardProps) {
  const attributes = Object.entries(item.attributes ?? {});
  const tags = item.tags ?? [];
  return (
    <article className="card item-card">
      <header className="item-card__header">
        <h3>{item.name}</h3>
        <Badge value={item.status} />
      </header>
      {item.description && <p>{item.description}</p>}
      <p className="item-card__price">{price.format(item.price)}</p>
      {item.dimensions && (
        <p className="muted">
          {item.dimensions.width_cm} × {item.dimensions.height_cm} × {item.dimensions.depth_cm} cm
        </p>
      )}
      {tags.length > 0 && (
        <ul className="tags">
          {tags.map((tag) => (
            <li key={tag}>#{tag}</li>
          ))}
        </ul>
      )}
      {attributes.length > 0 && (
        <dl className="attributes">
          {attributes.map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      )}
      <button type="button" onClick={() => onAdvance(item, nextStatus[item.status])}>
        Mark as {nextStatus[item.status].replace('_', ' ')}
      </button>
    </article>
  );
}
