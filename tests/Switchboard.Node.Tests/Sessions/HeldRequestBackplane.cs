using Switchboard.Backplane;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// An <see cref="InMemoryBackplane"/> whose requests of one kind wait until released, to hold a session's take in
/// flight while a test does what may happen meanwhile. With <paramref name="holdAnswers"/> the request is carried out
/// at once and its answer is what waits (the session is handed over, the taker does not know it yet).
/// </summary>
internal sealed class HeldRequestBackplane(string heldKind, bool holdAnswers = false) : DelegatingBackplane
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;

    /// <summary>Requests of the held kind made (or, holding answers, answered) so far; each waits for <see cref="Release"/>.</summary>
    public int HeldCount => Volatile.Read(ref _held);

    /// <summary>Lets every held request, and any later one, go on.</summary>
    public void Release() => _released.TrySetResult();

    /// <inheritdoc/>
    public override async ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (kind != heldKind)
        {
            return await Inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
        }
        if (holdAnswers)
        {
            var answer = await Inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
            Interlocked.Increment(ref _held);
            await _released.Task.WaitAsync(cancellationToken);
            return answer;
        }
        Interlocked.Increment(ref _held);
        await _released.Task.WaitAsync(cancellationToken);
        return await Inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
    }

    /// <inheritdoc/>
    public override ValueTask DisposeAsync()
    {
        Release();
        return Inner.DisposeAsync();
    }
}
