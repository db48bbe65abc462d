import heroUrl from '../assets/farm-hero.png';

export function Hero({ title, subtitle }: { title: string; subtitle: string }) {
  return (
    <section className="hero" style={{ backgroundImage: `url(${heroUrl})` }}>
      <div className="hero__content">
        <h1>{title}</h1>
        <p>{subtitle}</p>
      </div>
    </section>
  );
}
