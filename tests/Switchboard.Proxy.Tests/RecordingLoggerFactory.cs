using Switchboard.Tests.Common;

namespace Switchboard.Proxy.Tests;

/// <summary>Every logger of the proxy writes to one <see cref="RecordingLogger"/>.</summary>
internal sealed class RecordingLoggerFactory(RecordingLogger logger) : Microsoft.Extensions.Logging.ILoggerFactory
{
    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => logger;

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}
