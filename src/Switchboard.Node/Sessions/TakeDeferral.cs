namespace Switchboard.Node.Sessions;

/// <summary>
/// Something a connection leaves until its session's take from another node has an outcome: from <see cref="Open"/>
/// (the take begins) until <see cref="End"/>, <see cref="TryDefer"/> records it instead of it happening now, and
/// <see cref="End"/> says whether it waits. Not thread-safe: used under the connection's lock. A struct, so a
/// connection pays no allocation for it.
/// </summary>
internal struct TakeDeferral
{
    private bool _open;
    private bool _deferred;

    /// <summary>From now until <see cref="End"/>, <see cref="TryDefer"/> defers.</summary>
    public void Open() => _open = true;

    /// <summary>True (and recorded) while open: the caller leaves it to whoever calls <see cref="End"/>.</summary>
    public bool TryDefer()
    {
        _deferred |= _open;
        return _open;
    }

    /// <summary>Closes the window; true when something was deferred meanwhile, which the caller now carries out.</summary>
    public bool End()
    {
        var deferred = _deferred;
        _open = false;
        _deferred = false;
        return deferred;
    }
}
