export default function Wallet() { return <main className="p-6"><h1>Wallet</h1></main>; }
