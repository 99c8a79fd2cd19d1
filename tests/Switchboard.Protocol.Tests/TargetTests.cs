using Switchboard.Protocol;

namespace Switchboard.Protocol.Tests;

public class TargetTests
{
    [Theory]
    [InlineData("user:bob", TargetKind.User, "bob")]
    [InlineData("user:alice@example.com", TargetKind.User, "alice@example.com")]
    [InlineData("conn:node-1.k3j4h5", TargetKind.Connection, "node-1.k3j4h5")]
    [InlineData("group:room1", TargetKind.Group, "room1")]
    [InlineData("group:a:b:c", TargetKind.Group, "a:b:c")]
    [InlineData("group:user:bob", TargetKind.Group, "user:bob")]
    [InlineData("user:日本語 ünïcode", TargetKind.User, "日本語 ünïcode")]
    [InlineData("all", TargetKind.All, "")]
    public void TryParse_ThenToString_RoundTrips(string value, TargetKind kind, string name)
    {
        Target.TryParse(value, out var target, out var problem).ShouldBeTrue();

        problem.ShouldBeNull();
        target.Kind.ShouldBe(kind);
        target.Name.ShouldBe(name);
        target.ToString().ShouldBe(value);
    }

    [Theory]
    [InlineData(TargetKind.User, "bob")]
    [InlineData(TargetKind.Connection, "n.1")]
    [InlineData(TargetKind.Group, "g")]
    public void ToString_ThenTryParse_RoundTrips(TargetKind kind, string name)
    {
        var target = new Target(kind, name);

        Target.TryParse(target.ToString(), out var parsed, out _).ShouldBeTrue();
        parsed.ShouldBe(target);
    }

    [Fact]
    public void All_IsAllWithEmptyName()
    {
        Target.All.Kind.ShouldBe(TargetKind.All);
        Target.All.Name.ShouldBe(string.Empty);
        Target.All.ToString().ShouldBe(WireNames.Targets.All);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("bob")]
    [InlineData("user")]
    [InlineData("user:")]
    [InlineData("conn:")]
    [InlineData("group:")]
    [InlineData("USER:bob")]
    [InlineData("ALL")]
    [InlineData("group:a\u0001")]
    public void TryParse_Invalid_ReturnsFalseWithProblem(string? value)
    {
        Target.TryParse(value, out var target, out var problem).ShouldBeFalse();

        problem.ShouldNotBeNullOrWhiteSpace();
        target.ShouldBe(default);
    }

    [Fact]
    public void TryParse_NameLengthLimit_IsInclusive()
    {
        Target.TryParse("user:" + new string('a', Target.MaxNameLength), out _, out _).ShouldBeTrue();
        Target.TryParse("user:" + new string('a', Target.MaxNameLength + 1), out _, out _).ShouldBeFalse();
    }

    [Fact]
    public void TryParse_ProblemForLongInput_IsShortened()
    {
        Target.TryParse("nope:" + new string('x', 10_000), out _, out var problem).ShouldBeFalse();

        problem!.Length.ShouldBeLessThan(200);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("a\u0000")]
    [InlineData("a\u001f")]
    [InlineData("\u007f")]
    [InlineData("a\u0085b")]
    public void IsValidName_RejectsEmptyAndControlCharacters(string? name)
    {
        Target.IsValidName(name, out var problem).ShouldBeFalse();
        problem.ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [InlineData("a")]
    [InlineData("room 1")]
    [InlineData("ü€😀")]
    public void IsValidName_AcceptsPrintableNames(string name)
    {
        Target.IsValidName(name, out var problem).ShouldBeTrue();
        problem.ShouldBeNull();
    }
}
