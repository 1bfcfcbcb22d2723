using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Parley.Benchmarks -- --filter '*'   (or eng/bench.sh --micro)
BenchmarkSwitcher.FromAssembly(typeof(Parley.Benchmarks.FrameBenchmarks).Assembly).Run(args);
