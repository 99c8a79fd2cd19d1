using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests;

public sealed class NodeOptionsTests
{
    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(30, true)]
    public void SilentPeerUsersKeptFor_IsZeroOrPositive(int seconds, bool valid)
    {
        var options = new NodeOptions { ClusterSecret = TestCluster.Secret, SilentPeerUsersKeptFor = TimeSpan.FromSeconds(seconds) };
        if (valid)
        {
            options.Validate();
        }
        else
        {
            Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("Node:SilentPeerUsersKeptFor");
        }
    }
}
