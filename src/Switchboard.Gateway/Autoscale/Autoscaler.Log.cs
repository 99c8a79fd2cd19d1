using Microsoft.Extensions.Logging;

namespace Switchboard.Gateway.Autoscale;

/// <summary>The autoscaler's log messages, source-generated. Event ids 500–599.</summary>
internal static partial class AutoscaleLog
{
    [LoggerMessage(EventId = 500, EventName = "AutoscaleDecided", Level = LogLevel.Information,
        Message = "Autoscaler: {Action} from {Current} to {Target} nodes ({Reason})")]
    public static partial void Decided(this ILogger logger, AutoscaleAction action, int current, int target, string reason);

    [LoggerMessage(EventId = 501, EventName = "AutoscaleDrainAsked", Level = LogLevel.Information,
        Message = "Autoscaler asked node {NodeId} to drain ({Connections} connections)")]
    public static partial void DrainAsked(this ILogger logger, string nodeId, int connections);

    [LoggerMessage(EventId = 502, EventName = "AutoscaleFailed", Level = LogLevel.Warning,
        Message = "Autoscaler could not scale: {Reason}")]
    public static partial void Failed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 503, EventName = "NodeProcessStarted", Level = LogLevel.Information,
        Message = "Started node process {NodeId} (pid {ProcessId})")]
    public static partial void NodeProcessStarted(this ILogger logger, string nodeId, int processId);

    [LoggerMessage(EventId = 504, EventName = "NodeProcessExited", Level = LogLevel.Information,
        Message = "Node process {NodeId} exited with code {ExitCode}")]
    public static partial void NodeProcessExited(this ILogger logger, string nodeId, int exitCode);

    [LoggerMessage(EventId = 505, EventName = "NodeProcessOutput", Level = LogLevel.Debug,
        Message = "{NodeId}: {Line}")]
    public static partial void NodeProcessOutput(this ILogger logger, string nodeId, string line);

    [LoggerMessage(EventId = 506, EventName = "ProvisionerRan", Level = LogLevel.Information,
        Message = "Provisioner {Provisioner} asked for {Desired} nodes")]
    public static partial void ProvisionerRan(this ILogger logger, string provisioner, int desired);
}
