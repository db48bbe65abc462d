import { useState } from 'react';
import { api, type Item, type ItemStatus } from '../api/client';
import { ItemCard } from '../components/ItemCard';
import { StatusView } from '../components/StatusView';
import { useAsync } from '../hooks/useAsync';

const statuses: ItemStatus[] = ['draft', 'available', 'sold_out', 'archived'];

export function ItemsPage() {
  const [status, setStatus] = useState<ItemStatus | ''>('');
  const [tag, setTag] = useState('');
  const { state, reload } = useAsync(
    (signal) => api.listItems({ status: status || undefined, tag: tag.trim() || undefined }, signal),
    [status, tag],
  );
  const [error, setError] = useState<string | null>(null);

  async function advance(item: Item, next: ItemStatus) {
    setError(null);
    try {
      await api.setItemStatus(item.id, next);
      reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  return (
    <section>
      <h1>Items</h1>
      <div className="filters">
        <label className="inline-field">
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value as ItemStatus | '')}>
            <option value="">All</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          Tag
          <input value={tag} onChange={(e) => setTag(e.target.value)} placeholder="e.g. wood" />
        </label>
      </div>
      {error && <p className="status status--error">{error}</p>}
      <StatusView state={state} onRetry={reload}>
        {(items) =>
          items.length === 0 ? (
            <p className="muted">No items match.</p>
          ) : (
            <div className="grid grid--3">
              {items.map((item) => (
                <ItemCard key={item.id} item={item} onAdvance={advance} />
              ))}
            </div>
          )
        }
      </StatusView>
    </section>
  );
}
