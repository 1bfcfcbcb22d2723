namespace Parley.Chaos.Scenarios;

/// <summary>For 20 s, half of the acked sends are sent again with the same clientMsgId, as if their ack was lost.</summary>
public sealed class AckDrop : Scenario
{
    public override string Name => "ack-drop";

    public override string Fault => "for 20 s, half of all acked sends are treated as unacked by the application and sent again with the same clientMsgId";

    public override string Expectation => "every retry is answered with the original seq; nothing is stored twice";

    public override async Task InjectAsync(RunContext ctx)
    {
        ctx.FaultStarted();
        var from = ctx.Now;
        ctx.Driver.RetryShare = 0.5;
        await Task.Delay(TimeSpan.FromSeconds(20));
        ctx.Driver.RetryShare = 0;
        ctx.FaultEnded();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var retried = ctx.Workload.Ledger.Sends.Where(s => s.RetrySeq is not null).ToList();
        ctx.Figure("sends retried with the same clientMsgId", $"{retried.Count}");
        ctx.Figure("answered with the original seq", $"{retried.Count(s => s.RetrySeq == s.Seq)}");
        ctx.Expect(retried.Count > 0, "no send was retried");
        _ = from;
    }
}
