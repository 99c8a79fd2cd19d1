namespace Switchboard.Proxy.Backends;

/// <summary>Whether a backend takes new connections.</summary>
public enum BackendState
{
    /// <summary>Healthy: takes new connections.</summary>
    Up,

    /// <summary>Failed its health checks or too many dials in a row: no new connections; established ones continue.</summary>
    Ejected,

    /// <summary>The node says it is draining: no new connections; established ones continue.</summary>
    Draining,
}
