using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Server.Auth;
using Parley.Server.Hosting;
using Parley.Testing;

namespace Parley.Security.Tests.Support;

/// <summary>How to start a <see cref="SecurityNode"/> beyond its <c>Parley:*</c> settings.</summary>
public sealed class NodeSetup
{
    /// <summary>A clock to inject as the node's <see cref="TimeProvider"/>.</summary>
    public TimeProvider? Clock { get; init; }

    /// <summary>A PFX file to serve HTTPS with (through Kestrel's standard <c>Kestrel:Certificates:Default</c> keys).</summary>
    public string? CertificatePath { get; init; }

    /// <summary>The PFX file's password.</summary>
    public string? CertificatePassword { get; init; }

    /// <summary>Lowest level captured from the node's logs.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
}

/// <summary>
/// A real Parley node on Kestrel and loopback, built by <see cref="ParleyServer.Build"/> exactly as the program does,
/// with its logs captured (the suite asserts on what the server logged) and optionally a test clock or TLS.
/// </summary>
public sealed class SecurityNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string? _ownedFolder;

    private SecurityNode(WebApplication app, CapturedLogs logs, string? ownedFolder)
    {
        _app = app;
        Logs = logs;
        _ownedFolder = ownedFolder;
    }

    /// <summary>The base address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The WebSocket endpoint (<c>ws://</c> or <c>wss://</c>).</summary>
    public Uri WsUri => new((BaseUri.Scheme == "https" ? "wss" : "ws") + BaseUri.ToString()[BaseUri.Scheme.Length..] + "ws");

    /// <summary>The listening port.</summary>
    public int Port => BaseUri.Port;

    /// <summary>What the node logged.</summary>
    public CapturedLogs Logs { get; }

    /// <summary>The node core.</summary>
    public ParleyNode Node => _app.Services.GetRequiredService<ParleyNode>();

    /// <summary>The node's services (token service, password hasher…).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The node's token service.</summary>
    public TokenService Tokens => _app.Services.GetRequiredService<TokenService>();

    /// <summary>Builds and starts a node; <paramref name="settings"/> are <c>Parley:*</c> keys without the prefix.</summary>
    public static async Task<SecurityNode> StartAsync(IDictionary<string, string?>? settings = null, NodeSetup? setup = null)
    {
        var (app, logs, folder) = Build(settings, setup);
        var node = new SecurityNode(app, logs, folder);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }

        node.BaseUri = InProcessNode.BaseUri(app);
        return node;
    }

    /// <summary>Builds (without starting) a node's application, as the program would; for start-up failure tests.</summary>
    public static (WebApplication App, CapturedLogs Logs, string? Folder) Build(IDictionary<string, string?>? settings, NodeSetup? setup = null)
    {
        setup ??= new NodeSetup();
        var https = setup.CertificatePath is not null;
        var args = new List<string> { "--urls", https ? "https://127.0.0.1:0" : "http://127.0.0.1:0" };
        if (https)
        {
            args.Add("--Kestrel:Certificates:Default:Path=" + setup.CertificatePath);
            args.Add("--Kestrel:Certificates:Default:Password=" + setup.CertificatePassword);
        }

        args.AddRange(InProcessNode.ParleyArguments(settings, "sec", drainSeconds: 1, out var folder));

        var logs = new CapturedLogs();
        var app = ParleyServer.Build([.. args], b =>
        {
            b.Logging.ClearProviders();
            b.Logging.AddProvider(logs);
            b.Logging.SetMinimumLevel(setup.LogLevel);
            if (setup.Clock is not null)
            {
                b.Services.AddSingleton(setup.Clock);
            }
        });
        return (app, logs, folder);
    }

    /// <summary>Stops the node and deletes its private folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await _app.DisposeAsync();
            InProcessNode.DeleteFolder(_ownedFolder);
        }
    }
}
