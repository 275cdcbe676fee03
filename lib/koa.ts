/** The entry point `connect-mongodb-session/koa`: koa-session's store (see store/koa-store.ts). */
export {
  type KoaDestroyOptions,
  type KoaGetOptions,
  type KoaMaxAge,
  type KoaSession,
  type KoaSetOptions,
  type KoaStore,
  type KoaStoreOptions,
  type KoaStoreRepositoryOption,
  koaStore,
} from './store/koa-store.js';
