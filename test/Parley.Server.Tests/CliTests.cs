using System.Diagnostics;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Two terminal clients (the real <c>parley</c> program, as processes) chat through a real node.</summary>
[Trait("Tier", "Server")]
public sealed class CliTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "parley.dll");

    [Fact]
    public async Task Two_terminal_clients_register_join_and_chat()
    {
        var server = node.Server.BaseUri.ToString();
        var aliceHome = TestPorts.NewTempDir("cli-a");
        var bobHome = TestPorts.NewTempDir("cli-b");
        var alice = "alice" + Guid.NewGuid().ToString("N")[..6];
        var bob = "bob" + Guid.NewGuid().ToString("N")[..6];

        Assert.Contains("logged in as " + alice, await RunAsync(aliceHome, "--server", server, "register", alice, "--password", "secret-pass-1"));
        Assert.Contains("logged in as " + bob, await RunAsync(bobHome, "--server", server, "register", bob, "--password", "secret-pass-2"));
        var room = (await RunAsync(aliceHome, "create", "terminal room")).Trim();
        Assert.True(Protocol.ProtocolRules.IsValidId(room), room);
        Assert.Contains(room, await RunAsync(bobHome, "rooms"));
        Assert.Contains("terminal room", await RunAsync(bobHome, "join", room));

        // Bob listens in an interactive chat while Alice types two lines and leaves.
        await using var listener = ExternalProcess.Start("dotnet", [CliDll, "chat", room], new Dictionary<string, string> { ["PARLEY_HOME"] = bobHome }, openStdin: true);
        await WaitForAsync(() => listener.Output.Contains("-- chatting in", StringComparison.Ordinal), listener);
        await RunAsync(aliceHome, ["chat", room], stdin: "hello from the terminal\nsecond line\n");
        await WaitForAsync(() => listener.Output.Contains($"{alice}: second line", StringComparison.Ordinal), listener);
        Assert.Contains($"{alice}: hello from the terminal", listener.Output, StringComparison.Ordinal);

        var convs = await RunAsync(bobHome, "convs");
        Assert.Contains(room, convs);
        Assert.Contains("unread 2", convs);
    }

    private static async Task<string> RunAsync(string home, params string[] args) => await RunAsync(home, args, stdin: null);

    private static async Task<string> RunAsync(string home, string[] args, string? stdin)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["PARLEY_HOME"] = home;
        using var process = Process.Start(psi)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, $"parley {string.Join(' ', args)} exited {process.ExitCode}: {await error}{await output}");
        return await output;
    }

    private static async Task WaitForAsync(Func<bool> condition, ExternalProcess process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out; output so far:\n" + process.Output);
            await Task.Delay(50);
        }
    }
}
