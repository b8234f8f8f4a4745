export default function Admin() { return <main className="p-6"><h1>Admin</h1></main>; }
