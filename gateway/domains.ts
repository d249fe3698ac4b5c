/**
 * Every domain of `up`, in the order the API documents them. The gateway, the recorder, the
 * scheduler, user removal and host set-up take what they need from here (gateway/domain.ts).
 */
import apps from './apps/index.ts';
import certificates from './certificates/index.ts';
import containers from './containers/index.ts';
import dns from './dns/index.ts';
import hosts from './hosts/index.ts';
import proxies from './proxies/index.ts';
import users from './users/index.ts';
import websites from './websites/index.ts';
import databases from './databases/index.ts';
import mail from './mail/index.ts';
import secrets from './secrets/index.ts';
import type { Domain } from './domain.ts';

export const domains: readonly Domain[] = [users, hosts, proxies, apps, websites, certificates, dns, containers, secrets, databases, mail];
