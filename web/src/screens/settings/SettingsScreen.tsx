import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { Page, ProblemNote, useAsync } from '../../components/kit';
import { BrandingForm } from './BrandingForm';
import { ChannelStatus } from './ChannelStatus';
import { DeliverySettings } from './DeliverySettings';
import { TemplatePreview } from './TemplatePreview';
import type { SettingsInfo } from './types';
import './settings.css';

/**
 * The tenant's settings: branding (organisation name, accent colour, logo; editable with
 * settings.manage), the installation's reminder offsets and quiet hours (read-only, with the
 * variables that set them), channel configuration status (no secrets), template previews.
 */
export default function SettingsScreen() {
  const { t } = useTranslation();
  const { can } = useSession();
  const info = useAsync<SettingsInfo | null>(
    () => (can('settings.read') ? raw('GET', '/v1/settings') : Promise.resolve(null)),
    [],
  );
  return (
    <Page title={t('settings.title')} intro={t('settings.intro')}>
      <BrandingForm />
      <ProblemNote error={info.error} />
      {info.data && (
        <>
          <DeliverySettings delivery={info.data.delivery} />
          <ChannelStatus channels={info.data.channels} />
          <TemplatePreview types={info.data.notificationTypes} />
        </>
      )}
    </Page>
  );
}
