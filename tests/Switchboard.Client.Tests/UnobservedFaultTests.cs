using System.Collections.Concurrent;
using System.Net;
using Switchboard.Client.Tests.Gateway;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests;

/// <summary>
/// Tests that listen to <see cref="TaskScheduler.UnobservedTaskException"/>, which is process-wide: they run alone,
/// after the others, so a fault left by a test running meanwhile is not taken for theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideEventsCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "process-wide events";
}

[Collection(ProcessWideEventsCollection.Name)]
public sealed class UnobservedFaultTests
{
    [Fact]
    public async Task ReadyTask_FaultedWithNobodyWaiting_RaisesNoUnobservedTaskException()
    {
        // Faults left unobserved by earlier tests' garbage are reported now, before listening.
        CollectAll();
        var unobserved = new ConcurrentQueue<AggregateException>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.InnerExceptions.Any(x => x is SwitchboardException))
            {
                unobserved.Enqueue(e.Exception);
            }
        }
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            // A connect the gateway refuses, then a dispose: each faults the task commands wait on, with no command waiting.
            await FailConnectThenDisposeAsync();
            CollectAll();
            unobserved.ShouldBeEmpty();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }
    }

    private static void CollectAll()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task FailConnectThenDisposeAsync()
    {
        var client = new SwitchboardClient(new SwitchboardClientOptions
        {
            GatewayUrl = new Uri("http://127.0.0.1:7000"),
            DevUserId = "alice",
            HttpHandler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.Unauthorized, "invalid_token", "expired")),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        });
        await Should.ThrowAsync<SwitchboardException>(client.ConnectAsync().WithTimeout("connect"));
        await client.DisposeAsync();
    }
}
