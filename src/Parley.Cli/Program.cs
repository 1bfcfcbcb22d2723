using System.Globalization;
using System.Text.Json;
using Parley.Client;
using Parley.Protocol;

namespace Parley.Cli;

/// <summary><c>parley</c>: register, log in, find rooms and chat from a shell.</summary>
internal static class Program
{
    private const string Usage = """
        usage: parley [--server URL] <command> [args]

          register <username> [--password P]   create an account and log in
          login <username> [--password P]      log in (password also from PARLEY_PASSWORD or a prompt)
          rooms                                list public rooms
          create <name> [--private]            create a room
          join <room-id>                       join a public room
          add <room-id> <username>             add a member to a room you own
          dm <username>                        open the direct conversation with a user
          convs                                list your conversations with unread counts
          chat <conversation-id>               chat: prints history and live messages, sends each line you type

        The session (server and token) is kept in ~/.parley/session.json (or $PARLEY_HOME/session.json).
        """;

    private static async Task<int> Main(string[] args)
    {
        var list = args.ToList();
        var server = TakeOption(list, "--server");
        var password = TakeOption(list, "--password") ?? Environment.GetEnvironmentVariable("PARLEY_PASSWORD");
        var isPrivate = list.Remove("--private");
        if (list.Count == 0 || list[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return list.Count == 0 ? 2 : 0;
        }

        try
        {
            return await RunAsync(list[0], list.Skip(1).ToArray(), server, password, isPrivate);
        }
        catch (ParleyClientException e)
        {
            await Console.Error.WriteLineAsync($"parley: {e.Message}");
            return 1;
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"parley: cannot reach the server: {e.Message}");
            return 1;
        }
    }

    private static async Task<int> RunAsync(string command, string[] rest, string? server, string? password, bool isPrivate)
    {
        switch (command)
        {
            case "register":
            case "login":
                {
                    var username = Arg(rest, 0, "username");
                    var session = new Session(server ?? Session.Load()?.Server ?? "http://localhost:5080/", "", "");
                    using var http = new HttpClient { BaseAddress = new Uri(session.Server) };
                    password ??= Prompt("password: ");
                    var auth = command == "register"
                        ? await ParleyClient.RegisterAsync(http, username, password)
                        : await ParleyClient.LoginAsync(http, username, password);
                    (session with { Token = auth.Token, Username = auth.Username }).Save();
                    Console.WriteLine($"logged in as {auth.Username} on {session.Server}");
                    return 0;
                }
        }

        var saved = Session.Load() ?? throw new ParleyClientException("unauthorized", "log in first: parley login <username>");
        if (server is not null)
        {
            saved = saved with { Server = server };
        }

        await using var client = new ParleyClient(new ParleyClientOptions
        {
            BaseUri = new Uri(saved.Server),
            TokenProvider = _ => Task.FromResult(saved.Token),
        });
        switch (command)
        {
            case "rooms":
                foreach (var room in await client.GetPublicRoomsAsync())
                {
                    Console.WriteLine($"{room.Id}  {TerminalText.Safe(room.Name)}  ({room.MemberCount} members)");
                }

                return 0;
            case "create":
                Console.WriteLine((await client.CreateRoomAsync(Arg(rest, 0, "name"), isPrivate)).Id);
                return 0;
            case "join":
                Console.WriteLine(TerminalText.Safe((await client.JoinAsync(Arg(rest, 0, "room-id"))).Name));
                return 0;
            case "add":
                await client.AddMemberAsync(Arg(rest, 0, "room-id"), Arg(rest, 1, "username"));
                return 0;
            case "dm":
                Console.WriteLine((await client.OpenDmAsync(Arg(rest, 0, "username"))).Id);
                return 0;
            case "convs":
                foreach (var c in await client.GetConversationsAsync())
                {
                    var online = c.Peer is null ? "" : c.Peer.Online ? " (online)" : " (offline)";
                    Console.WriteLine($"{c.Id}  {c.Kind,-4}  {TerminalText.Safe(c.Name)}{online}  unread {c.Unread}");
                }

                return 0;
            case "chat":
                return await ChatAsync(client, Arg(rest, 0, "conversation-id"));
            default:
                await Console.Error.WriteLineAsync(Usage);
                return 2;
        }
    }

    private static async Task<int> ChatAsync(ParleyClient client, string conv)
    {
        var names = new Dictionary<string, string>();
        var history = await client.GetHistoryAsync(conv, limit: 20);
        foreach (var m in history.Messages)
        {
            Print(m);
        }

        var last = history.Messages.Count > 0 ? history.Messages[^1].Seq : 0;
        client.MessageReceived += m =>
        {
            if (m.Conv == conv && m.Seq > last)
            {
                Print(m);
            }
        };
        client.TypingReceived += t =>
        {
            if (t.Conv == conv)
            {
                Console.WriteLine($"  … {TerminalText.Safe(t.Username)} is typing");
            }
        };
        client.Disconnected += reason => Console.WriteLine($"  (reconnecting: {reason})");
        await client.ConnectAsync();
        Console.WriteLine($"-- chatting in {conv} on node {client.NodeId}; type a message and press Enter, /quit to leave --");

        var sends = new List<Task>();
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line.Trim() == "/quit")
            {
                break;
            }

            if (line.Length > 0)
            {
                sends.Add(client.SendAsync(conv, line));
            }
        }

        // End of input: every typed line is acknowledged (stored) before the program exits.
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(30));
        await client.MarkReadAsync(conv, client.Cursors.TryGetValue(conv, out var seq) ? seq : 0);
        return 0;
    }

    private static void Print(MessageDto m)
    {
        var time = DateTimeOffset.FromUnixTimeMilliseconds(m.Ts).ToLocalTime().ToString("HH:mm", CultureInfo.InvariantCulture);
        Console.WriteLine($"[{time}] {TerminalText.Safe(m.FromName)}: {TerminalText.Safe(m.Body)}");
    }

    private static string Arg(string[] rest, int index, string name) =>
        rest.Length > index ? rest[index] : throw new ParleyClientException("invalid", $"missing <{name}>");

    private static string? TakeOption(List<string> args, string name)
    {
        var i = args.IndexOf(name);
        if (i < 0 || i + 1 >= args.Count)
        {
            return null;
        }

        var value = args[i + 1];
        args.RemoveRange(i, 2);
        return value;
    }

    private static string Prompt(string text)
    {
        Console.Write(text);
        if (Console.IsInputRedirected)
        {
            return Console.ReadLine() ?? "";
        }

        var chars = new List<char>();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.WriteLine();
                return new string([.. chars]);
            }

            if (key.Key == ConsoleKey.Backspace && chars.Count > 0)
            {
                chars.RemoveAt(chars.Count - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                chars.Add(key.KeyChar);
            }
        }
    }
}

/// <summary>The saved login: server address, token and user name.</summary>
internal sealed record Session(string Server, string Token, string Username)
{
    private static string FilePath => Path.Combine(
        Environment.GetEnvironmentVariable("PARLEY_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".parley"),
        "session.json");

    public static Session? Load() =>
        File.Exists(FilePath) ? JsonSerializer.Deserialize<Session>(File.ReadAllText(FilePath)) : null;

    public void Save()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(FilePath, options);
        JsonSerializer.Serialize(stream, this);
    }
}
