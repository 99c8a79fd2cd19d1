using Switchboard.Gateway.Autoscale;
using Switchboard.Gateway.Tests.Placement;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Autoscale;

public sealed class AutoscalePlannerTests
{
    private readonly ManualTimeProvider _time = new();

    private static AutoscaleOptions Options() => new()
    {
        TargetUtilisation = 0.5,
        ScaleDownMargin = 0.1,
        MinNodes = 1,
        MaxNodes = 5,
        ScaleUpCooldown = TimeSpan.FromSeconds(30),
        ScaleDownCooldown = TimeSpan.FromSeconds(60),
    };

    [Fact]
    public void LoadAboveTarget_ScalesUpToCeilOfConnectionsOverCapacityTimesTarget()
    {
        var planner = new AutoscalePlanner(Options(), _time);

        var plan = planner.Plan(current: 1, connections: 15, capacityPerNode: 20);

        plan.Action.ShouldBe(AutoscaleAction.ScaleUp);
        plan.Desired.ShouldBe(2, "ceil(15 / (20 × 0.5))");
        plan.Target.ShouldBe(2);
    }

    [Fact]
    public void LoadAtTarget_StaysPut()
    {
        var planner = new AutoscalePlanner(Options(), _time);

        planner.Plan(current: 2, connections: 20, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.None);
    }

    [Fact]
    public void ScaleUp_IsClampedToMaxNodes_AndEmptyFarmToMinNodes()
    {
        var planner = new AutoscalePlanner(Options(), _time);

        planner.Plan(current: 1, connections: 10_000, capacityPerNode: 20).Target.ShouldBe(5);
        new AutoscalePlanner(Options(), _time).Plan(current: 0, connections: 0, capacityPerNode: 0).ShouldSatisfyAllConditions(
            p => p.Action.ShouldBe(AutoscaleAction.ScaleUp),
            p => p.Target.ShouldBe(1));
    }

    [Fact]
    public void AfterAScaleUp_TheScaleUpCooldownHoldsFurtherScaleUps()
    {
        var planner = new AutoscalePlanner(Options(), _time);
        planner.Plan(current: 1, connections: 15, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.ScaleUp);

        _time.Advance(TimeSpan.FromSeconds(29));
        planner.Plan(current: 2, connections: 35, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.Wait);

        _time.Advance(TimeSpan.FromSeconds(1));
        var plan = planner.Plan(current: 2, connections: 35, capacityPerNode: 20);
        plan.Action.ShouldBe(AutoscaleAction.ScaleUp);
        plan.Target.ShouldBe(4);
    }

    [Fact]
    public void AfterAScaleUp_TheScaleDownCooldownHoldsScaleDowns_ThenOneNodeAtATime()
    {
        var planner = new AutoscalePlanner(Options(), _time);
        planner.Plan(current: 1, connections: 35, capacityPerNode: 20).Target.ShouldBe(4);

        _time.Advance(TimeSpan.FromSeconds(59));
        planner.Plan(current: 4, connections: 0, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.Wait);

        _time.Advance(TimeSpan.FromSeconds(1));
        var plan = planner.Plan(current: 4, connections: 0, capacityPerNode: 20);
        plan.Action.ShouldBe(AutoscaleAction.ScaleDown);
        plan.Target.ShouldBe(3, "a drain at a time");

        _time.Advance(TimeSpan.FromSeconds(30));
        planner.Plan(current: 3, connections: 0, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.Wait, "the scale-down cooldown runs again");
    }

    [Fact]
    public void NeverScalesBelowMinNodes()
    {
        var options = Options();
        options.MinNodes = 2;
        var planner = new AutoscalePlanner(options, _time);

        planner.Plan(current: 2, connections: 0, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.None);
    }

    [Fact]
    public void NeverPlansBelowOneNode_EvenWithUnvalidatedMinNodesZero()
    {
        var options = Options();
        options.MinNodes = 0;
        options.ScaleUpCooldown = TimeSpan.Zero;
        options.ScaleDownCooldown = TimeSpan.Zero;
        var planner = new AutoscalePlanner(options, _time);

        // An idle farm shrinks one node at a time, down to one and no further.
        var current = 3;
        for (var i = 0; i < 5; i++)
        {
            var plan = planner.Plan(current, connections: 0, capacityPerNode: 20);
            plan.Desired.ShouldBeGreaterThanOrEqualTo(1);
            plan.Target.ShouldBeGreaterThanOrEqualTo(1);
            current = plan.Target;
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        current.ShouldBe(1);

        // An empty farm (its nodes died, say) is a scale-up to one, with or without known capacity.
        foreach (var capacity in new[] { 20.0, 0 })
        {
            new AutoscalePlanner(options, _time).Plan(current: 0, connections: 0, capacityPerNode: capacity).ShouldSatisfyAllConditions(
                p => p.Action.ShouldBe(AutoscaleAction.ScaleUp),
                p => p.Target.ShouldBe(1));
        }
    }

    [Fact]
    public void MoreNodesThanMax_ScalesDown()
    {
        var options = Options();
        options.MaxNodes = 2;
        var planner = new AutoscalePlanner(options, _time);

        var plan = planner.Plan(current: 3, connections: 60, capacityPerNode: 20);

        plan.Action.ShouldBe(AutoscaleAction.ScaleDown);
        plan.Target.ShouldBe(2);
    }

    [Fact]
    public void LoadJustUnderTheTargetOfTheSmallerFarm_DoesNotScaleDown_Hysteresis()
    {
        var planner = new AutoscalePlanner(Options(), _time);

        // 19 connections fit 2 nodes of 20 at 0.5 (desired 2), but not under 0.5 × 0.9 = 9 per node: stay at 3.
        var hold = planner.Plan(current: 3, connections: 19, capacityPerNode: 20);
        hold.Desired.ShouldBe(2);
        hold.Action.ShouldBe(AutoscaleAction.None);

        // 18 fits 2 × 9: now it goes.
        planner.Plan(current: 3, connections: 18, capacityPerNode: 20).Action.ShouldBe(AutoscaleAction.ScaleDown);
    }

    [Fact]
    public void LoadHoveringAtTheEdge_DoesNotFlap()
    {
        var options = Options();
        options.ScaleUpCooldown = TimeSpan.Zero;
        options.ScaleDownCooldown = TimeSpan.Zero;
        var planner = new AutoscalePlanner(options, _time);
        var current = 2;
        var actions = new List<AutoscaleAction>();
        foreach (var connections in new[] { 21, 19, 21, 20, 19, 21, 20 })
        {
            var plan = planner.Plan(current, connections, capacityPerNode: 20);
            actions.Add(plan.Action);
            current = plan.Target;
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        actions.Count(a => a == AutoscaleAction.ScaleUp).ShouldBe(1);
        actions.ShouldNotContain(AutoscaleAction.ScaleDown);
        current.ShouldBe(3);
    }

    [Fact]
    public void ScaleDown_DrainsTheLeastLoadedReadyNode()
    {
        var nodes = new[] { Candidates.Heartbeat("a", connections: 7), Candidates.Heartbeat("b", connections: 2), Candidates.Heartbeat("c", connections: 2) };

        AutoscalePlanner.PickDrains(nodes, 1).ShouldBe(["b"]);
        AutoscalePlanner.PickDrains(nodes, 2).ShouldBe(["b", "c"]);
        AutoscalePlanner.PickDrains(nodes, 0).ShouldBeEmpty();
    }
}
