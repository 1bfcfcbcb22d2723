using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Parley.Security.Tests.Support;

/// <summary>One log entry a node wrote.</summary>
public sealed record LogEntry(LogLevel Level, string Category, string Message, string? Exception)
{
    /// <inheritdoc />
    public override string ToString() => $"{Level} {Category}: {Message}{(Exception is null ? "" : "\n" + Exception)}";
}

/// <summary>A logger provider that keeps every entry of a node in memory, so tests can read what the server logged.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private const int MaxEntries = 200_000;
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private int _count;

    /// <summary>Every entry so far, oldest first.</summary>
    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    /// <summary>Entries at Error or above.</summary>
    public IReadOnlyList<LogEntry> Errors => [.. _entries.Where(e => e.Level >= LogLevel.Error)];

    /// <summary>Everything logged, as one text.</summary>
    public string AllText => string.Join("\n", _entries);

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        // A flood test must not turn the log into the memory problem it is looking for.
        if (Interlocked.Increment(ref _count) <= MaxEntries)
        {
            _entries.Enqueue(entry);
        }
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            // Structured values too: a secret passed as an argument but left out of the message template still counts.
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                message += " {" + string.Join(", ", values.Select(v => $"{v.Key}={v.Value}")) + "}";
            }

            owner.Add(new LogEntry(logLevel, category, message, exception?.ToString()));
        }
    }
}
