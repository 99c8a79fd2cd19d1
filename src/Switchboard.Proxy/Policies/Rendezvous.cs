using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// Weighted rendezvous (highest random weight) hashing: every backend scores the key, the highest score wins.
/// Adding or removing a backend moves only the keys it wins or won; weights scale a backend's share.
/// </summary>
internal static class Rendezvous
{
    public static Backend Pick(IReadOnlyList<Backend> candidates, string key)
    {
        var keyHash = Fnv1a(key);
        Backend best = candidates[0];
        var bestScore = double.MinValue;
        foreach (var backend in candidates)
        {
            var mixed = Mix(keyHash ^ Mix(Fnv1a(backend.Id)));
            // A uniform number in (0, 1); -w/ln(u) gives each backend a share proportional to its weight.
            var unit = ((mixed >> 11) + 1) * (1.0 / (1UL << 53));
            var score = -backend.Weight / Math.Log(unit);
            if (score > bestScore)
            {
                bestScore = score;
                best = backend;
            }
        }
        return best;
    }

    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        return hash;
    }

    // The splitmix64 finaliser: spreads FNV's weak low bits over the whole word.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }
}
