export default function ApiKeys() { return <main className="p-6"><h1>ApiKeys</h1></main>; }
