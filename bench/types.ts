/** One benchmark section of docs/benchmarks.md. Every bench module default-exports a BenchModule. */
export interface BenchSection {
  title: string;
  /** The command that reproduces this section alone. */
  command: string;
  /** Markdown body: tables of figures and ratios against the peer tools measured in the same run. */
  markdown: string;
}

export interface BenchModule {
  name: string;
  run(opts: { quick: boolean }): Promise<BenchSection>;
}
