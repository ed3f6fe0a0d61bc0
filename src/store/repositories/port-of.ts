/**
 * The port of a repository whose contracts are written on its SQL implementation's methods: every
 * public member, so core depends on the shape and tests can pass fakes.
 */
export type PortOf<T> = { [K in keyof T]: T[K] };
