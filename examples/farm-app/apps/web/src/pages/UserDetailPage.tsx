import { Link, useNavigate, useParams } from 'react-router-dom';
import { api } from '../api/client';
import { Badge } from '../components/Badge';
import { StatusView } from '../components/StatusView';
import { useAsync } from '../hooks/useAsync';

export function UserDetailPage() {
  const { userId } = useParams<{ userId: string }>();
  const id = Number(userId);
  const navigate = useNavigate();
  const { state, reload } = useAsync(
    (signal) =>
      Number.isInteger(id) && id > 0 ? api.getUser(id, signal) : Promise.reject(new Error(`Invalid user id "${userId}"`)),
    [id],
  );
  const owned = useAsync((signal) => api.listItems({}, signal), []);

  async function onDelete() {
    await api.deleteUser(id);
    navigate('/users');
  }

  return (
    <section>
      <p>
        <Link to="/users">← All users</Link>
      </p>
      <StatusView state={state} onRetry={reload}>
        {(user) => (
          <article className="panel">
            <h1>{user.name}</h1>
            <p>
              <a href={`mailto:${user.email}`}>{user.email}</a> <Badge value={user.role} />
            </p>
            {user.bio && <p>{user.bio}</p>}
            {user.created_at && <p className="muted">Joined {new Date(user.created_at).toLocaleString()}</p>}
            <h2>Items owned</h2>
            <StatusView state={owned.state} onRetry={owned.reload}>
              {(items) => {
                const mine = items.filter((item) => item.owner_id === user.id);
                return mine.length === 0 ? (
                  <p className="muted">None.</p>
                ) : (
                  <ul>
                    {mine.map((item) => (
                      <li key={item.id}>{item.name}</li>
                    ))}
                  </ul>
                );
              }}
            </StatusView>
            <button type="button" className="danger" onClick={onDelete}>
              Delete user
            </button>
          </article>
        )}
      </StatusView>
    </section>
  );
}
