"""Interleaved: production Engine (no accounts) vs the prototype, interpreted and compiled."""
import importlib.util, random, sys, time
from matchbook.core.commands import PlaceOrder, CancelOrder, BUY, SELL, LIMIT, MARKET, GTC, IOC
from matchbook.core.engine import Engine
from matchbook.core.symbols import load_markets


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

def stream(n, seed=1):
    rng = random.Random(seed)
    live = []
    out = []
    placed = 0
    mid = 5_000_000
    for i in range(n):
        r = rng.random()
        uid = rng.randint(1, 10**9)
        if r < 0.55 or not live:
            side = BUY if rng.random() < 0.5 else SELL
            off = rng.randint(-300, 2000)
            price = mid + off if side == SELL else mid - off
            c = PlaceOrder(uid, "BTC-USD", side, LIMIT, qty_lots=rng.randint(1, 10), price_ticks=price, tif=GTC)
            placed += 1
            live.append((uid, placed))
        elif r < 0.65:
            side = BUY if rng.random() < 0.5 else SELL
            c = PlaceOrder(uid, "BTC-USD", side, MARKET, qty_lots=rng.randint(1, 5), tif=IOC)
            placed += 1
        else:
            j = rng.randrange(len(live)); live[j], live[-1] = live[-1], live[j]
            u, o = live.pop()
            c = CancelOrder(u, o)
        out.append(c)
    return out

if __name__ == "__main__":
    from matchbook.config import default_markets
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    cmds = stream(n)
    pure = load("hotpath.py", "hotpath_pure")
    import hotpath as compiled
    assert compiled.__file__.endswith(".so"), compiled.__file__
    markets = default_markets()
    res = {k: [] for k in ("engine", "proto-pure", "proto-compiled", "proto-compiled-tuples")}
    for rep in range(3):
        eng = Engine(markets, accounts=False)
        t = time.perf_counter(); ev = 0
        for i, c in enumerate(cmds):
            ev += len(eng.apply(i + 1, i + 1, c))
        res["engine"].append((n / (time.perf_counter() - t), ev))
        for key, mod, tup in (("proto-pure", pure, False), ("proto-compiled", compiled, False), ("proto-compiled-tuples", compiled, True)):
            b = mod.Book("BTC-USD", tup)
            t = time.perf_counter(); ev = mod.run(b, cmds)
            res[key].append((n / (time.perf_counter() - t), ev))
    for k, v in res.items():
        print(f"{k:24s} best {max(x for x, _ in v):>12,.0f} cmd/s  events {v[0][1]:,}")
