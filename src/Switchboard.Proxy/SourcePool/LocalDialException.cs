using System.Net.Sockets;

namespace Switchboard.Proxy.SourcePool;

/// <summary>
/// A dial failed for a reason of the proxy's own, not the backend's: no file descriptor left (EMFILE, ENFILE), no
/// kernel memory (ENOBUFS, ENOMEM), a source address that cannot be bound or no free local port
/// (EADDRNOTAVAIL, EADDRINUSE), a name lookup that failed for want of these. It says nothing of the backend's health, so it never counts against it.
/// </summary>
internal sealed class LocalDialException(SocketException inner, string what)
    : IOException($"the proxy could not {what}: {inner.Message} ({inner.SocketErrorCode})", inner)
{
    /// <summary>The socket error the kernel gave.</summary>
    public SocketError Error => ((SocketException)InnerException!).SocketErrorCode;

    /// <summary>
    /// Whether a failed connect says the proxy is short of something. EADDRNOTAVAIL and EADDRINUSE at connect mean no
    /// local port was left for that destination; a backend that refuses or cannot be reached gives other errors.
    /// </summary>
    public static bool IsLocal(SocketError error) => error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable
        or SocketError.AddressNotAvailable or SocketError.AddressAlreadyInUse;

    /// <summary>
    /// Whether a failed name lookup says the proxy is short of something: EAI_SYSTEM (a system call in the resolver
    /// failed, as when no descriptor is left for its socket or <c>/etc/hosts</c>; .NET reports it as the generic
    /// <see cref="SocketError.SocketError"/>), or out of descriptors or buffers. A name that does not exist
    /// (<see cref="SocketError.HostNotFound"/>, <see cref="SocketError.NoData"/>) or a resolver that gets no answer
    /// (<see cref="SocketError.TryAgain"/>) is no shortage of the proxy's.
    /// </summary>
    public static bool IsLocalResolve(SocketError error) => error is SocketError.SocketError or SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;

    /// <summary>The local failure behind <paramref name="e"/> (a dial through an HTTP handler wraps it twice), or null.</summary>
    public static LocalDialException? Find(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is LocalDialException local)
            {
                return local;
            }
        }
        return null;
    }
}
