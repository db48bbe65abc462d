// The three constants are injected by `farm build` (Vite `define`). Under a plain `vite`/`vite build`
// they are not defined, so each read is guarded with `typeof` (which Vite's define also replaces).
const buildVersion = typeof __BUILD_VERSION__ !== 'undefined' ? __BUILD_VERSION__ : 'dev';
const buildTimestamp = typeof __BUILD_TIMESTAMP__ !== 'undefined' ? __BUILD_TIMESTAMP__ : 'not built by farm';
const environment = typeof __ENVIRONMENT__ !== 'undefined' ? __ENVIRONMENT__ : import.meta.env.MODE;

export function Footer() {
  return (
    <footer className="footer">
      <span>
        Version <strong data-testid="build-version">{buildVersion}</strong>
      </span>
      <span>
        Built <time data-testid="build-timestamp">{buildTimestamp}</time>
      </span>
      <span>
        Environment <strong data-testid="build-environment">{environment}</strong>
      </span>
    </footer>
  );
}
