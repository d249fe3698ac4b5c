/** Users: tenants and admins, their API tokens, limits and Unix users on the hosts. */
import { defineDomain } from '../domain.ts';
import { userObservers } from './observers.ts';

export default defineDomain({
  name: 'users',
  description: 'Users, their plans and their Unix users on hosts (admin).',
  names: { ops: ['tenant.*'], paths: ['/v1/tokens'], why: "a user's Unix user on a host is a tenant; tokens are the caller's own" },
  routes: async () => {
    const [{ userRoutes }, { tokenRoutes }] = await Promise.all([import('./routes.ts'), import('./tokens.ts')]);
    return [userRoutes, tokenRoutes];
  },
  observers: userObservers,
});
