import { useState, type FormEvent } from 'react';
import { api, type UserRole } from '../api/client';
import { StatusView } from '../components/StatusView';
import { UserCard } from '../components/UserCard';
import { useAsync } from '../hooks/useAsync';

const roles: UserRole[] = ['admin', 'member', 'viewer'];

export function UsersPage() {
  const [role, setRole] = useState<UserRole | ''>('');
  const { state, reload } = useAsync((signal) => api.listUsers(role || undefined, signal), [role]);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setSaving(true);
    setFormError(null);
    try {
      await api.createUser({ name, email });
      setName('');
      setEmail('');
      reload();
    } catch (error) {
      setFormError(error instanceof Error ? error.message : String(error));
    } finally {
      setSaving(false);
    }
  }

  return (
    <section>
      <h1>Users</h1>
      <label className="inline-field">
        Role
        <select value={role} onChange={(e) => setRole(e.target.value as UserRole | '')}>
          <option value="">All</option>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <StatusView state={state} onRetry={reload}>
        {(users) =>
          users.length === 0 ? (
            <p className="muted">No users yet.</p>
          ) : (
            <div className="grid grid--2">
              {users.map((user) => (
                <UserCard key={user.id} user={user} />
              ))}
            </div>
          )
        }
      </StatusView>
      <form className="panel form" onSubmit={onSubmit}>
        <h2>Add a user</h2>
        <input placeholder="Name" value={name} onChange={(e) => setName(e.target.value)} required />
        <input placeholder="Email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <button type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Add user'}
        </button>
        {formError && <p className="status status--error">{formError}</p>}
      </form>
    </section>
  );
}
