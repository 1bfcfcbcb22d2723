using System.Diagnostics;
using System.Globalization;

namespace Parley.Testing;

/// <summary>
/// A real nginx in front of Parley nodes, configured from the repository's own template (<c>deploy/nginx</c>, rendered by
/// <c>deploy/nginx/render.sh</c>), on a free loopback port. A missing nginx throws: never a silent skip.
/// </summary>
public sealed class NginxServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly string _dir;
    private ExternalProcess? _process;

    private NginxServer(string dir, int port)
    {
        _dir = dir;
        Port = port;
    }

    /// <summary>The loopback port nginx listens on.</summary>
    public int Port { get; }

    /// <summary>The base address clients use, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUri => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>The WebSocket endpoint through nginx.</summary>
    public Uri WsUri => new($"ws://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/ws");

    /// <summary>The rendered configuration file.</summary>
    public string ConfigPath => Path.Combine(_dir, "nginx.conf");

    /// <summary>nginx's error log so far, for failure messages.</summary>
    public string ErrorLog
    {
        get
        {
            var file = Path.Combine(_dir, "error.log");
            return File.Exists(file) ? File.ReadAllText(file) : "(no error log)";
        }
    }

    /// <summary>Renders the config for <paramref name="upstreams"/> (<c>host:port</c> each) and starts nginx in the foreground.</summary>
    public static async Task<NginxServer> StartAsync(IReadOnlyList<string> upstreams)
    {
        var nginx = FindBinary();
        var server = new NginxServer(TestPorts.NewTempDir("nginx"), TestPorts.GetFree());
        try
        {
            Directory.CreateDirectory(Path.Combine(server._dir, "tmp"));
            var config = await RenderAsync($"127.0.0.1:{server.Port.ToString(CultureInfo.InvariantCulture)}", server._dir, upstreams);
            await File.WriteAllTextAsync(server.ConfigPath, config);
            server._process = ExternalProcess.Start(
                "sh",
                ["-c", OwnerWatchdog.Script, "nginx-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), nginx, "-p", server._dir, "-c", server.ConfigPath, "-g", "daemon off;"]);
            await TestPorts.WaitForPortAsync(server.Port, StartTimeout, () => server._process.IsRunning);
            return server;
        }
        catch (Exception e)
        {
            var detail = server._process?.Tail() + "\n" + server.ErrorLog;
            await server.DisposeAsync();
            throw new InvalidOperationException($"nginx did not start: {e.Message}\n{detail}", e);
        }
    }

    /// <summary>Runs <c>deploy/nginx/render.sh</c> from the repository and returns the rendered nginx.conf.</summary>
    public static async Task<string> RenderAsync(string listen, string prefix, IReadOnlyList<string> upstreams)
    {
        var script = Path.Combine(RepositoryRoot.Path, "deploy", "nginx", "render.sh");
        var (exit, stdout, stderr) = await ToolRunner.RunAsync("bash", [script, listen, prefix, .. upstreams], TimeSpan.FromSeconds(15));
        return exit == 0 ? stdout : throw new InvalidOperationException($"render.sh failed ({exit}): {stderr}");
    }

    /// <summary>The nginx binary; throws when nginx is not installed.</summary>
    public static string FindBinary() =>
        new[] { "/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("nginx is not installed; the cluster tests need it (eng/install-deps.sh installs nginx-light)");

    /// <summary>Stops nginx (SIGQUIT, then kill) and removes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            process.Signal("QUIT");
            if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(5)))
            {
                await process.DisposeAsync();
            }

            _process = null;
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The repository checkout the tests run from (found by walking up to <c>Parley.slnx</c>).</summary>
public static class RepositoryRoot
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Parley.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Parley.slnx above {AppContext.BaseDirectory}");
    });

    /// <summary>The repository's root folder.</summary>
    public static string Path => Root.Value;
}
