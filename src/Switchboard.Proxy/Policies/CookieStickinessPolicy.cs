using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// Cookie stickiness: the tunnel sets <c>{cookie}=&lt;backend id&gt;</c> on the 101 response; a later request carrying
/// it goes to that backend while it takes connections, otherwise to <paramref name="fallback"/> (and gets a new cookie).
/// For stacks that mix HTTP long-polling and WebSocket behind one address.
/// </summary>
internal sealed class CookieStickinessPolicy(string cookieName, IBalancingPolicy fallback) : IBalancingPolicy
{
    public string Name => BalancingPolicies.Cookie;

    public string? AffinityCookie => cookieName;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        if (context.Request?.Cookie(cookieName) is { } id)
        {
            foreach (var backend in candidates)
            {
                if (backend.Id == id)
                {
                    return backend;
                }
            }
        }
        return fallback.Pick(candidates, context);
    }
}
