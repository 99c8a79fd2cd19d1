namespace Switchboard.Backplane;

/// <summary>Why a request to a node (<see cref="IBackplane.RequestAsync"/>) got no answer.</summary>
public enum BackplaneRequestFailure
{
    /// <summary>No node with that id is joined to the backplane.</summary>
    NoSuchNode,
    /// <summary>The node did not answer within the timeout.</summary>
    Timeout,
    /// <summary>The node's handler failed (or does not handle that kind of request).</summary>
    Failed,
    /// <summary>The backplane cannot reach its broker.</summary>
    Unavailable,
}

/// <summary>A request to a node got no answer; <see cref="Failure"/> says why.</summary>
public sealed class BackplaneRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BackplaneRequestException(BackplaneRequestFailure failure, string message, Exception? innerException = null)
        : base(message, innerException) => Failure = failure;

    /// <summary>Why there is no answer.</summary>
    public BackplaneRequestFailure Failure { get; }
}
