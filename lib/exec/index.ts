/** The executor API handlers use to act on machines. */
export { and, Command, script, sh, type Interpolation, type Word } from './command.ts';
export type { Executor, ExecResult, LockOptions, PutFileOptions, RunOptions, ScriptOptions } from './types.ts';
export {
  AuthenticationError,
  CommandError,
  HostKeyMismatchError,
  TransientExecError,
  type CommandOutcome,
  type TransientCode,
} from './errors.ts';
export { SshExecutor, type SshExecutorOptions } from './ssh-executor.ts';
export { LocalExecutor, type LocalExecutorOptions } from './local-executor.ts';
export { fetchHostKey, fingerprintSha256, SshPool, type HostSpec, type PoolOptions } from './ssh-pool.ts';
