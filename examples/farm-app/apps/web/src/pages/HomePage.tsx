import { Link } from 'react-router-dom';
import { api } from '../api/client';
import { Hero } from '../components/Hero';
import { StatusView } from '../components/StatusView';
import { useAsync } from '../hooks/useAsync';

export function HomePage() {
  const { state, reload } = useAsync((signal) => api.health(signal), []);
  return (
    <>
      <Hero title="FARM Example App" subtitle="FastAPI · React · MongoDB · Ollama" />
      <section className="panel">
        <h2>API status</h2>
        <StatusView state={state} onRetry={reload}>
          {(health) => (
            <p>
              API is <strong>{health.status}</strong> (version {health.version}, {health.environment})
            </p>
          )}
        </StatusView>
      </section>
      <section className="grid grid--3">
        <Link className="card card--link" to="/users">
          <h3>Users</h3>
          <p>Browse and add users.</p>
        </Link>
        <Link className="card card--link" to="/items">
          <h3>Items</h3>
          <p>Filter items and move them through their lifecycle.</p>
        </Link>
        <Link className="card card--link" to="/chat">
          <h3>AI Chat</h3>
          <p>Talk to a local model served by Ollama.</p>
        </Link>
      </section>
    </>
  );
}
