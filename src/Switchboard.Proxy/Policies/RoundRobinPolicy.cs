using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// Smooth weighted round-robin: each pick adds every candidate's weight to its running score, takes the highest and
/// subtracts the total, so weights 3:1 give A A B A rather than A A A B.
/// </summary>
internal sealed class RoundRobinPolicy : IBalancingPolicy
{
    private readonly Lock _lock = new();
    // By backend, not by id: a static backend and a cluster node may share an id, and each needs its own score.
    private readonly Dictionary<Backend, long> _current = new(ReferenceEqualityComparer.Instance);

    public string Name => BalancingPolicies.RoundRobin;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        lock (_lock)
        {
            if (_current.Count > candidates.Count * 2)
            {
                _current.Clear(); // forget backends long gone
            }
            Backend? best = null;
            long bestScore = long.MinValue;
            long total = 0;
            foreach (var backend in candidates)
            {
                var score = _current.GetValueOrDefault(backend) + backend.Weight;
                _current[backend] = score;
                total += backend.Weight;
                if (score > bestScore)
                {
                    bestScore = score;
                    best = backend;
                }
            }
            _current[best!] = bestScore - total;
            return best;
        }
    }
}
