using Switchboard.Gateway.Autoscale;

namespace Switchboard.Gateway.Tests.Autoscale;

public sealed class AutoscaleOptionsTests
{
    [Fact]
    public void Defaults_AreValid_EvenWithoutAProvisionerConfigured_WhileDisabled()
    {
        Failures(new AutoscaleOptions()).ShouldBeEmpty();
    }

    [Fact]
    public void UnknownProvisioner_FailsListingTheValidNames()
    {
        var message = Failures(new AutoscaleOptions { Enabled = true, Provisioner = "cloud" }).ShouldHaveSingleItem();

        message.ShouldContain("Gateway:Autoscale:Provisioner");
        message.ShouldContain("process, command, webhook");
    }

    [Theory]
    [InlineData(Provisioners.Process, "Gateway:Autoscale:Process:Executable")]
    [InlineData(Provisioners.Command, "Gateway:Autoscale:Command:FileName")]
    [InlineData(Provisioners.Webhook, "Gateway:Autoscale:Webhook:Url")]
    public void EnabledProvisioner_WithoutItsSetting_FailsNamingIt(string provisioner, string key)
    {
        Failures(new AutoscaleOptions { Enabled = true, Provisioner = provisioner }).ShouldHaveSingleItem().ShouldContain(key);
    }

    [Fact]
    public void BadNumbers_FailNamingTheSettings()
    {
        var failures = Failures(new AutoscaleOptions { TargetUtilisation = 1.5, MinNodes = 3, MaxNodes = 2, Interval = TimeSpan.Zero, ScaleDownMargin = 1 });

        string.Join('\n', failures).ShouldSatisfyAllConditions(
            m => m.ShouldContain("TargetUtilisation"),
            m => m.ShouldContain("ScaleDownMargin"),
            m => m.ShouldContain("MinNodes <= MaxNodes"),
            m => m.ShouldContain("Interval > 0"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void MinNodesBelowOne_FailsNamingTheSetting(int minNodes)
    {
        // A farm scaled to no node never grows again: /v1/connect answers no_nodes, so no load asks for one.
        var message = Failures(new AutoscaleOptions { MinNodes = minNodes }).ShouldHaveSingleItem();

        message.ShouldContain("Gateway:Autoscale:MinNodes");
        message.ShouldContain(">= 1");
    }

    [Fact]
    public void MinNodesOne_IsValid()
    {
        Failures(new AutoscaleOptions { MinNodes = 1, MaxNodes = 1 }).ShouldBeEmpty();
    }

    private static List<string> Failures(AutoscaleOptions options)
    {
        var failures = new List<string>();
        options.Validate("Gateway:", failures);
        return failures;
    }
}
