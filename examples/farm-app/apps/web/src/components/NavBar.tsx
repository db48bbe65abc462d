import { NavLink } from 'react-router-dom';
import logoUrl from '../assets/farm-logo.svg';

const links = [
  { to: '/', label: 'Home', end: true },
  { to: '/users', label: 'Users', end: false },
  { to: '/items', label: 'Items', end: false },
  { to: '/chat', label: 'AI Chat', end: false },
];

export function NavBar() {
  return (
    <header className="navbar">
      <NavLink to="/" className="navbar__brand">
        <img src={logoUrl} alt="" width={32} height={32} />
        <span>FARM Example</span>
      </NavLink>
      <nav aria-label="Main">
        <ul className="navbar__links">
          {links.map((link) => (
            <li key={link.to}>
              <NavLink to={link.to} end={link.end} className={({ isActive }) => (isActive ? 'active' : undefined)}>
                {link.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
    </header>
  );
}
