import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@design/sealpost.css';
import './styles/console.css';
import { initI18n } from './i18n/i18n';
import { App } from './app/App';

initI18n();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
