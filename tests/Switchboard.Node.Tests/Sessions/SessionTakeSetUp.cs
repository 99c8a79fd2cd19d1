using Switchboard.Backplane;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// The set-up the session-take tests share: two nodes on a backplane the test holds or fails, a user whose connection
/// dropped (its session kept where it was), and that user's resume on another node, whose take is held.
/// </summary>
internal static class SessionTakeSetUp
{
    /// <summary>Starts two nodes on <paramref name="backplane"/>; <paramref name="configureNode"/> adjusts every node's options.</summary>
    public static Task<TestCluster> StartAsync(IBackplane backplane, Action<NodeOptions>? configureNode = null) =>
        TestCluster.StartAsync(nodes: 2, o =>
        {
            o.Backplane = backplane;
            o.ConfigureNode = configureNode;
        });

    /// <summary>Connects <paramref name="userId"/> to <paramref name="nodeId"/> and drops the connection without a goodbye; returns its session.</summary>
    public static async Task<string> ConnectAndDropAsync(this TestCluster cluster, string userId, string nodeId)
    {
        var client = await cluster.ConnectAsync(userId, nodeId);
        var session = client.Session;
        client.Socket.Abort();
        client.Socket.Dispose();
        return session;
    }

    /// <summary>
    /// Opens a resume-ticket connection for <paramref name="session"/> on <paramref name="nodeId"/>, sends its
    /// <c>resume</c> (id <c>r1</c>, from seq 0) and waits until <paramref name="backplane"/> holds the take.
    /// </summary>
    public static async Task<RawClient> ResumeWhileHeldAsync(this TestCluster cluster, HeldRequestBackplane backplane, string userId, string nodeId, string session)
    {
        var resuming = await RawClient.OpenAsync(cluster.ResumeTicketUrl(userId, nodeId, session));
        try
        {
            await resuming.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r1"}""");
            await Eventually.TrueAsync(() => backplane.HeldCount == 1, $"{nodeId}'s take of {userId}'s session to be held");
            return resuming;
        }
        catch
        {
            // The test never gets the client to dispose of.
            await resuming.DisposeAsync();
            throw;
        }
    }
}
