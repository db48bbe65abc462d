import type { ReactNode } from 'react';
import type { AsyncState } from '../hooks/useAsync';

interface StatusViewProps<T> {
  state: AsyncState<T>;
  onRetry?: () => void;
  children: (data: T) => ReactNode;
}

/** Renders a spinner while loading, an error box with retry on failure, else `children(data)`. */
export function StatusView<T>({ state, onRetry, children }: StatusViewProps<T>) {
  if (state.status === 'loading') {
    return (
      <p className="status status--loading" role="status">
        Loading…
      </p>
    );
  }
  if (state.status === 'error') {
    return (
      <div className="status status--error" role="alert">
        <p>{state.error.message}</p>
        {onRetry && (
          <button type="button" onClick={onRetry}>
            Retry
          </button>
        )}
      </div>
    );
  }
  return <>{children(state.data)}</>;
}
