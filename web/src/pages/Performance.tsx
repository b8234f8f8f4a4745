export default function Performance() { return <main className="p-6"><h1>Performance</h1></main>; }
