namespace Switchboard.Backplane;

/// <summary>The backplane cannot reach its broker right now (start-up, or an outage); the operation did not happen.</summary>
public sealed class BackplaneUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BackplaneUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
