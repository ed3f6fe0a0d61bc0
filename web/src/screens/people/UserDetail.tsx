import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { ConfirmButton, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { useSession } from '../../app/session';
import { users, type Invited } from './people-api';
import { RolePicker, StatusBadge } from './RolePicker';
import { OneTimeSecret } from './OneTimeSecret';
import { UserSessions } from './UserSessions';

/**
 * One staff member: roles (a change ends their sessions), unlock, disable or enable, "remote wipe"
 * (every session, device registration and push token revoked), a new enrolment link while invited,
 * and their live sessions.
 */
export function UserDetail() {
  const { t } = useTranslation();
  const { me } = useSession();
  const { id = '' } = useParams();
  const user = useAsync(() => users.get(id), [id]);
  const [roles, setRoles] = useState<string[]>([]);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [note, setNote] = useState('');
  const [link, setLink] = useState<Invited | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => setRoles(user.data?.roles ?? []), [user.data]);

  const u = user.data;
  const after = (message: string) => {
    setNote(message);
    user.reload();
    setTick((n) => n + 1);
  };
  const saveRoles = async () => {
    setSaveError(null);
    try {
      await users.update(id, { roles });
      after(t('people.user.rolesSaved'));
    } catch (e) {
      setSaveError(e);
    }
  };
  const self = u?.id === me.id;

  return (
    <Page
      title={u?.displayName ?? t('people.user.title')}
      intro={<Link to="/people/users">{t('people.user.back')}</Link>}
    >
      <ProblemNote error={user.error} />
      {u && (
        <>
          <dl className="sp-people-facts">
            <dt>{t('people.users.email')}</dt>
            <dd>{u.email}</dd>
            <dt>{t('people.users.status')}</dt>
            <dd>
              <StatusBadge status={u.status} />
              {u.lockedUntil && (
                <>
                  {' '}
                  {t('people.user.lockedUntil')} <When at={u.lockedUntil} />
                </>
              )}
            </dd>
            <dt>{t('people.user.created')}</dt>
            <dd>
              <When at={u.createdAt} />
            </dd>
          </dl>
          {note && (
            <p className="sp-people-note" role="status">
              {note}
            </p>
          )}
          {link && (
            <OneTimeSecret
              label={t('people.invite.link', { name: u.displayName })}
              value={link.enrolmentUrl}
              hint={t('people.invite.hint')}
              onDone={() => setLink(null)}
            />
          )}

          <section className="sp-card" aria-labelledby="sp-people-roles-h">
            <h2 id="sp-people-roles-h">{t('people.user.rolesTitle')}</h2>
            <p className="sp-why">{t('people.user.rolesWhy')}</p>
            <RolePicker legend={t('people.users.roles')} value={roles} onChange={setRoles} />
            <ProblemNote error={saveError} />
            <div className="sp-actions">
              <button type="button" className="sp-button sp-primary" onClick={() => void saveRoles()}>
                {t('people.user.saveRoles')}
              </button>
            </div>
          </section>

          <section className="sp-card" aria-labelledby="sp-people-actions-h">
            <h2 id="sp-people-actions-h">{t('people.user.actionsTitle')}</h2>
            <div className="sp-actions">
              {u.status === 'invited' && (
                <ConfirmButton
                  label={t('people.user.reinvite')}
                  title={t('people.user.reinvite')}
                  body={t('people.user.reinviteBody')}
                  onConfirm={async () => setLink(await users.reinvite(id))}
                />
              )}
              {u.status === 'locked' && (
                <ConfirmButton
                  label={t('people.user.unlock')}
                  title={t('people.user.unlock')}
                  body={t('people.user.unlockBody', { name: u.displayName })}
                  onConfirm={async () => {
                    await users.unlock(id);
                    after(t('people.user.unlocked'));
                  }}
                />
              )}
              {u.status === 'disabled' ? (
                <ConfirmButton
                  label={t('people.user.enable')}
                  title={t('people.user.enable')}
                  body={t('people.user.enableBody', { name: u.displayName })}
                  onConfirm={async () => {
                    await users.enable(id);
                    after(t('people.user.enabled'));
                  }}
                />
              ) : (
                <ConfirmButton
                  danger
                  isDisabled={self}
                  label={t('people.user.disable')}
                  title={t('people.user.disable')}
                  body={t('people.user.disableBody', { name: u.displayName })}
                  onConfirm={async () => {
                    await users.disable(id);
                    after(t('people.user.disabled'));
                  }}
                />
              )}
              <ConfirmButton
                danger
                isDisabled={self}
                label={t('people.user.wipe')}
                title={t('people.user.wipe')}
                body={t('people.user.wipeBody', { name: u.displayName })}
                onConfirm={async () => {
                  const r = await users.wipe(id);
                  after(t('people.user.wiped', { sessions: r.sessions, devices: r.devices }));
                }}
              />
            </div>
            {self && <p className="sp-why">{t('people.user.notSelf')}</p>}
          </section>

          <UserSessions userId={id} refresh={tick} isSelf={self} />
        </>
      )}
    </Page>
  );
}
