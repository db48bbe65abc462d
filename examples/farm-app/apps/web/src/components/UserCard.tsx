import { Link } from 'react-router-dom';
import type { User } from '../api/client';
import { Badge } from './Badge';

export function UserCard({ user }: { user: User }) {
  const initials = user.name
    .split(/\s+/)
    .map((part) => part.charAt(0).toUpperCase())
    .slice(0, 2)
    .join('');
  return (
    <article className="card user-card">
      <div className="user-card__avatar" aria-hidden="true">
        {initials}
      </div>
      <div>
        <h3>
          <Link to={`/users/${user.id}`}>{user.name}</Link>
        </h3>
        <p className="muted">{user.email}</p>
        <Badge value={user.role} />
      </div>
    </article>
  );
}
